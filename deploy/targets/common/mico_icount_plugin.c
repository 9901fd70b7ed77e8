/* MiCo instruction-count plugin for QEMU TCG (plugin API version 1, QEMU 7.2).
 *
 * Counts guest instructions executed between pairs of marker instructions and prints one line
 * "MICO_ICOUNT <n>" to stderr at each end marker. Markers (never emitted by compilers):
 *   Thumb:   mov r11, r11        (0x46db)
 *   AArch64: orr x28, x28, x28   (0xaa1c039c)
 * The first, third, ... marker executed starts a region, the second, fourth, ... ends it.
 * Counting is exact: every translation block adds its instruction count inline when it starts,
 * and a marker's callback corrects for the instructions of its block after the marker.
 *
 * QEMU ships no plugin header in Debian, so the few declarations needed are written here from
 * the documented API (include/qemu/qemu-plugin.h of QEMU 7.2).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr,
                                              uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static uint64_t total;     /* instructions of all started blocks */
static uint64_t start_at;  /* count at the start marker */
static int inside;

static void on_marker(unsigned int vcpu, void *userdata) {
    (void)vcpu;
    uint64_t now = total - (uint64_t)(uintptr_t)userdata; /* executed up to and incl. the marker */
    if (!inside) {
        start_at = now;
        inside = 1;
    } else {
        /* exclude the end marker itself */
        fprintf(stderr, "MICO_ICOUNT %llu\n", (unsigned long long)(now - start_at - 1));
        fflush(stderr);
        inside = 0;
    }
}

static int is_marker(const struct qemu_plugin_insn *insn) {
    size_t n = qemu_plugin_insn_size(insn);
    const uint8_t *d = (const uint8_t *)qemu_plugin_insn_data(insn);
    if (n == 2) return d[0] == 0xdb && d[1] == 0x46;
    if (n == 4) return d[0] == 0x9c && d[1] == 0x03 && d[2] == 0x1c && d[3] == 0xaa;
    return 0;
}

static void on_tb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &total, n);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        if (is_marker(insn))
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_marker, QEMU_PLUGIN_CB_NO_REGS,
                                                   (void *)(uintptr_t)(n - i - 1));
    }
}

static void on_plugin_exit(qemu_plugin_id_t id, void *userdata) {
    (void)id;
    (void)userdata;
    fprintf(stderr, "MICO_ICOUNT_TOTAL %llu\n", (unsigned long long)total);
    fflush(stderr);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv) {
    (void)info;
    (void)argc;
    (void)argv;
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb);
    qemu_plugin_register_atexit_cb(id, on_plugin_exit, NULL);
    return 0;
}
