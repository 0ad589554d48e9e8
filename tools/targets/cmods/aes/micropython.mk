# cryptolib for the 32-bit unix build of the vendored snapshot: the snapshot has
# neither the mbedTLS nor the axTLS submodule, so this module gives the
# snapshot's own extmod/modcryptolib.c an AES core behind the axTLS API
# (lib/axtls/crypto/crypto.h below). Host test target only; real firmware
# (ESP32) has cryptolib from mbedTLS.
AES_MOD_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(AES_MOD_DIR)/aes.c
CFLAGS_USERMOD += -I$(AES_MOD_DIR) -DMICROPY_SSL_AXTLS=1 -DMICROPY_PY_CRYPTOLIB=1
