# romimg: a ROMFS image file in memory outside the GC heap (romimg.c), for
# the 32-bit unix build's ROMFS heap figures. Host test target only.
ROMIMG_MOD_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(ROMIMG_MOD_DIR)/romimg.c
