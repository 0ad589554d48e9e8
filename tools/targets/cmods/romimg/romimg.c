// romimg.load(path): a ROMFS image file's bytes in memory outside the GC
// heap, as a memoryview for vfs.VfsRom. On a board a ROMFS partition is
// memory-mapped flash and the .mpy files in it run in place; on the 32-bit
// unix build this stands in for that partition, so the heap figures of a
// ROMFS deployment can be measured (tools/targets/bench_targets.py).
// Host test target only.
#include <stdio.h>
#include <stdlib.h>
#include "py/runtime.h"
#include "py/objarray.h"
#include "py/mperrno.h"

static mp_obj_t romimg_load(mp_obj_t path_in) {
    const char *path = mp_obj_str_get_str(path_in);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        mp_raise_OSError(MP_ENOENT);
    }
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) {
        n = ftell(f);
    }
    void *p = n > 0 ? malloc(n) : NULL;     // never freed: the image stays mounted
    if (p == NULL || fseek(f, 0, SEEK_SET) != 0 || fread(p, 1, n, f) != (size_t)n) {
        fclose(f);
        free(p);
        mp_raise_OSError(MP_EIO);
    }
    fclose(f);
    return mp_obj_new_memoryview('B', n, p);
}
static MP_DEFINE_CONST_FUN_OBJ_1(romimg_load_obj, romimg_load);

static const mp_rom_map_elem_t romimg_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_romimg) },
    { MP_ROM_QSTR(MP_QSTR_load), MP_ROM_PTR(&romimg_load_obj) },
};
static MP_DEFINE_CONST_DICT(romimg_globals, romimg_globals_table);

const mp_obj_module_t romimg_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&romimg_globals,
};
MP_REGISTER_MODULE(MP_QSTR_romimg, romimg_module);
