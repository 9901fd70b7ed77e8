/* mico_tbprof: per-translation-block execution counts, a QEMU TCG plugin (plugin API v1).
 *
 * Written for the MiCo latency simulator (latency/sim). QEMU 7.2 in Debian ships no
 * qemu-plugin.h, so the few functions used are declared below from the documented API.
 *
 * For every translated block the plugin keeps a record (guest start address, number of
 * instructions, raw instruction bytes) and an execution counter that TCG increments inline at
 * the start of the block (no callback per execution). Output file (text, one item per line):
 *     # mico_tbprof v2 target=<arch>                 header
 *     R <region> <id> <executions>                   written when region <region> ends
 *     B <id> <vaddr hex> <n_insns> <executions> <insn bytes hex, ':' between instructions>
 *                                                    at exit, one per translation (whole run)
 * Regions: the guest marks them with marker instructions (Thumb `mov r11, r11` = 0x46db,
 * AArch64 `orr x28, x28, x28` = 0xaa1c039c): the 1st, 3rd, ... marker starts a region, the
 * 2nd, 4th, ... ends it. Boundary effect: the rest of the block holding a start marker is not
 * counted, the rest of the block holding an end marker is (a few instructions per region).
 *
 * Arguments: out=<path> (required).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
/* Prefix of qemu_info_t as documented for API version 1. */
typedef struct {
    const char *target_name;
    struct { int min; int cur; } version;
    bool system_emulation;
} qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*udata_cb_t)(qemu_plugin_id_t id, void *userdata);

extern void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, tb_trans_cb_t cb);
extern size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
extern uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
extern struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
extern const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
extern size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
extern void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
                                                     void *ptr, uint64_t imm);
extern void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, vcpu_udata_cb_t cb,
                                                   enum qemu_plugin_cb_flags flags, void *userdata);
extern void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, udata_cb_t cb, void *userdata);
extern void qemu_plugin_outs(const char *string);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

typedef struct rec {
    uint64_t count;   /* incremented inline by TCG at every execution of the block */
    uint64_t snap;    /* count at the last region start */
    uint64_t vaddr;
    uint32_t n_insns;
    uint32_t nbytes;
    char *hex;        /* instruction bytes */
} rec_t;

static rec_t **recs;
static size_t n_recs, cap_recs;
static char out_path[1024];
static FILE *out;
static int inside, n_regions, n_markers;

static void on_marker(unsigned int vcpu, void *userdata) {
    (void)vcpu;
    (void)userdata;
    n_markers++;
    if (!inside) {
        for (size_t i = 0; i < n_recs; i++) recs[i]->snap = recs[i]->count;
        inside = 1;
    } else {
        for (size_t i = 0; i < n_recs; i++) {
            uint64_t d = recs[i]->count - recs[i]->snap;
            if (d) fprintf(out, "R %d %zu %llu\n", n_regions, i, (unsigned long long)d);
        }
        inside = 0;
        n_regions++;
    }
}

static bool is_marker(const uint8_t *p, size_t n) {
    if (n == 2 && p[0] == 0xdb && p[1] == 0x46) return true;
    if (n == 4 && p[0] == 0x9c && p[1] == 0x03 && p[2] == 0x1c && p[3] == 0xaa) return true;
    return false;
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    rec_t *r = calloc(1, sizeof(rec_t));
    r->vaddr = qemu_plugin_tb_vaddr(tb);
    r->n_insns = (uint32_t)n;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += qemu_plugin_insn_size(qemu_plugin_tb_get_insn(tb, i));
    r->hex = malloc(total * 2 + n + 1);
    char *w = r->hex;
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        size_t sz = qemu_plugin_insn_size(insn);
        const uint8_t *d = qemu_plugin_insn_data(insn);
        if (i) *w++ = ':';
        for (size_t k = 0; k < sz; k++) w += sprintf(w, "%02x", d[k]);
        if (is_marker(d, sz))
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_marker, QEMU_PLUGIN_CB_NO_REGS, NULL);
    }
    *w = 0;
    r->nbytes = (uint32_t)total;
    if (n_recs == cap_recs) {
        cap_recs = cap_recs ? 2 * cap_recs : 4096;
        recs = realloc(recs, cap_recs * sizeof(rec_t *));
    }
    recs[n_recs++] = r;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &r->count, 1);
}

static void on_atexit(qemu_plugin_id_t id, void *userdata) {
    (void)id;
    (void)userdata;
    for (size_t i = 0; i < n_recs; i++) {
        rec_t *r = recs[i];
        fprintf(out, "B %zu %llx %u %llu %s\n", i, (unsigned long long)r->vaddr, r->n_insns,
                (unsigned long long)r->count, r->hex);
    }
    fprintf(out, "# end regions=%d markers=%d records=%zu\n", n_regions, n_markers, n_recs);
    fclose(out);
    out = NULL;
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv) {
    if (info->version.cur < 1 || info->version.min > 1) {
        fprintf(stderr, "mico_tbprof: QEMU plugin API %d..%d does not include version 1\n", info->version.min,
                info->version.cur);
        return -1;
    }
    out_path[0] = 0;
    for (int i = 0; i < argc; i++)
        if (strncmp(argv[i], "out=", 4) == 0) snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
    if (!out_path[0]) {
        fprintf(stderr, "mico_tbprof: argument out=<path> is required\n");
        return -1;
    }
    out = fopen(out_path, "w");
    if (!out) {
        fprintf(stderr, "mico_tbprof: cannot open %s\n", out_path);
        return -1;
    }
    fprintf(out, "# mico_tbprof v2 target=%s\n", info->target_name ? info->target_name : "?");
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
    qemu_plugin_register_atexit_cb(id, on_atexit, NULL);
    return 0;
}
