/* MiCo QEMU TCG plugin (plugin API version 1, QEMU 7.2): instruction counts between markers for
 * deploy, and per-translation-block execution profiles for the latency simulator (latency/sim).
 *
 * Markers (never emitted by compilers):
 *   Thumb:   mov r11, r11        (0x46db)
 *   AArch64: orr x28, x28, x28   (0xaa1c039c)
 * The first, third, ... marker executed starts a region, the second, fourth, ... ends it.
 *
 * Always: one line "MICO_ICOUNT <n>" on stderr at each end marker (guest instructions executed in
 * the region, exact: every translation block adds its instruction count inline when it starts,
 * and a marker's callback corrects for the instructions of its block after the marker), and
 * "MICO_ICOUNT_TOTAL <n>" at exit.
 *
 * With the argument out=<path>, also a block profile (text, one item per line):
 *     # mico_tbprof v3 target=<arch>                 header
 *     R <region> <id> <executions>                   when region <region> ends, per block run in it
 *     B <id> <vaddr hex> <n_insns> <executions> <insn bytes hex, ':' between instructions>
 *                                                    at exit, one per translation (whole run)
 * Block counts are per execution of a block; the block holding a start marker is not counted in
 * the region, the block holding the end marker is (a few instructions per region).
 *
 * QEMU ships no plugin header in Debian, so the few declarations needed are written here from
 * the documented API (include/qemu/qemu-plugin.h of QEMU 7.2).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
/* Prefix of qemu_info_t as documented for API version 1. */
typedef struct {
    const char *target_name;
    struct {
        int min;
        int cur;
    } version;
    bool system_emulation;
} qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr,
                                              uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

typedef struct rec {
    uint64_t count; /* incremented inline by TCG at every execution of the block */
    uint64_t snap;  /* count at the last region start */
    uint64_t vaddr;
    uint32_t n_insns;
    char *hex; /* instruction bytes */
} rec_t;

static uint64_t total;    /* instructions of all started blocks */
static uint64_t start_at; /* count at the start marker */
static int inside, n_regions;
static FILE *prof; /* block profile, NULL unless out=<path> */
static rec_t **recs;
static size_t n_recs, cap_recs;

static void on_marker(unsigned int vcpu, void *userdata) {
    (void)vcpu;
    uint64_t now = total - (uint64_t)(uintptr_t)userdata; /* executed up to and incl. the marker */
    if (!inside) {
        start_at = now;
        inside = 1;
        for (size_t i = 0; i < n_recs; i++) recs[i]->snap = recs[i]->count;
    } else {
        /* exclude the end marker itself */
        fprintf(stderr, "MICO_ICOUNT %llu\n", (unsigned long long)(now - start_at - 1));
        fflush(stderr);
        inside = 0;
        if (prof) {
            for (size_t i = 0; i < n_recs; i++) {
                uint64_t d = recs[i]->count - recs[i]->snap;
                if (d) fprintf(prof, "R %d %zu %llu\n", n_regions, i, (unsigned long long)d);
            }
        }
        n_regions++;
    }
}

static int is_marker(const uint8_t *d, size_t n) {
    if (n == 2) return d[0] == 0xdb && d[1] == 0x46;
    if (n == 4) return d[0] == 0x9c && d[1] == 0x03 && d[2] == 0x1c && d[3] == 0xaa;
    return 0;
}

static void add_record(struct qemu_plugin_tb *tb, size_t n) {
    rec_t *r = calloc(1, sizeof(rec_t));
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) bytes += qemu_plugin_insn_size(qemu_plugin_tb_get_insn(tb, i));
    r->vaddr = qemu_plugin_tb_vaddr(tb);
    r->n_insns = (uint32_t)n;
    r->hex = malloc(bytes * 2 + n + 1);
    char *w = r->hex;
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        size_t sz = qemu_plugin_insn_size(insn);
        const uint8_t *d = qemu_plugin_insn_data(insn);
        if (i) *w++ = ':';
        for (size_t k = 0; k < sz; k++) w += sprintf(w, "%02x", d[k]);
    }
    *w = 0;
    if (n_recs == cap_recs) {
        cap_recs = cap_recs ? 2 * cap_recs : 4096;
        recs = realloc(recs, cap_recs * sizeof(rec_t *));
    }
    recs[n_recs++] = r;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &r->count, 1);
}

static void on_tb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &total, n);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        if (is_marker(qemu_plugin_insn_data(insn), qemu_plugin_insn_size(insn)))
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_marker, QEMU_PLUGIN_CB_NO_REGS,
                                                   (void *)(uintptr_t)(n - i - 1));
    }
    if (prof) add_record(tb, n);
}

static void on_plugin_exit(qemu_plugin_id_t id, void *userdata) {
    (void)id;
    (void)userdata;
    fprintf(stderr, "MICO_ICOUNT_TOTAL %llu\n", (unsigned long long)total);
    fflush(stderr);
    if (prof) {
        for (size_t i = 0; i < n_recs; i++) {
            rec_t *r = recs[i];
            fprintf(prof, "B %zu %llx %u %llu %s\n", i, (unsigned long long)r->vaddr, r->n_insns,
                    (unsigned long long)r->count, r->hex);
        }
        fprintf(prof, "# end regions=%d records=%zu total=%llu\n", n_regions, n_recs, (unsigned long long)total);
        fclose(prof);
        prof = NULL;
    }
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv) {
    if (info && (info->version.cur < 1 || info->version.min > 1)) {
        fprintf(stderr, "mico plugin: QEMU plugin API %d..%d does not include version 1\n", info->version.min,
                info->version.cur);
        return -1;
    }
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            prof = fopen(argv[i] + 4, "w");
            if (!prof) {
                fprintf(stderr, "mico plugin: cannot open %s\n", argv[i] + 4);
                return -1;
            }
            fprintf(prof, "# mico_tbprof v3 target=%s\n", info && info->target_name ? info->target_name : "?");
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb);
    qemu_plugin_register_atexit_cb(id, on_plugin_exit, NULL);
    return 0;
}
