"""Firmware update (LwM2M object 5) host tools: build a package (package.py),
push it through the dev server over Block1 (push.py), serve it for a pull
over CoAP Block2 or HTTP with Range (serve.py). CLI: python3 tools/fota/cli.py."""
