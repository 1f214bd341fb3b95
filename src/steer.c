/* Reuseport eBPF steering to idle workers: the program, its maps, attaching it. */
#include "src/steer.h"

#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- the few instruction encodings the program needs --------------------------------- */

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
    return (struct bpf_insn){.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
}

#define MOV_REG(d, s)           insn(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV_IMM(d, i)           insn(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define ALU_IMM(op, d, i)       insn(BPF_ALU64 | (op) | BPF_K, d, 0, 0, i)
#define ALU_REG(op, d, s)       insn(BPF_ALU64 | (op) | BPF_X, d, s, 0, 0)
#define LOAD_W(d, s, off)       insn(BPF_LDX | BPF_MEM | BPF_W, d, s, off, 0)
#define STORE_W_IMM(d, off, i)  insn(BPF_ST | BPF_MEM | BPF_W, d, 0, off, i)
#define STORE_W_REG(d, off, s)  insn(BPF_STX | BPF_MEM | BPF_W, d, s, off, 0)
#define JUMP_IMM(op, d, i, off) insn(BPF_JMP | (op) | BPF_K, d, 0, off, i)
#define JUMP_REG(op, d, s, off) insn(BPF_JMP | (op) | BPF_X, d, s, off, 0)
#define JUMP(off)               insn(BPF_JMP | BPF_JA, 0, 0, off, 0)
#define CALL(fn)                insn(BPF_JMP | BPF_CALL, 0, 0, 0, fn)
#define EXIT()                  insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
/* a map's descriptor as a 64-bit immediate: two instructions */
#define MAP_FD(d, fd)                                                                              \
    insn(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, fd), insn(0, 0, 0, 0, 0)

static long sys_bpf(int cmd, union bpf_attr *attr)
{
    return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static int make_map(uint32_t type, uint32_t value_size, uint32_t entries, uint32_t flags)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_type = type;
    attr.key_size = sizeof(uint32_t);
    attr.value_size = value_size;
    attr.max_entries = entries;
    attr.map_flags = flags;
    return (int)sys_bpf(BPF_MAP_CREATE, &attr);
}

/* Slots the program looks at from the hashed one on: enough for any worker count this
 * machine kind runs well, and a bound that keeps the kernel's verifier quick (it walks
 * every iteration). */
#define STEER_SCAN 16

/* The program, for one bind. In C it would read:
 *
 *     t = table[0]; n = t->nslots;              (n in [1, max_slots], else leave it to
 *     start = ctx->hash % n;                     the kernel's own hash)
 *     for (i = 0; i < n && i < STEER_SCAN; i++) {
 *         k = (start + i) % n;
 *         if (t->free[k]) break;
 *     }
 *     select(sockets[i < n ? k : start]);
 *     return SK_PASS;
 *
 * A failed select (the slot's listener not in the array yet) also falls back to the
 * kernel's hash. */
static int load_program(int table_map, int sockets, size_t off_nslots, size_t off_free,
                        unsigned max_slots, char *log, size_t loglen)
{
    enum { PASS = 40, LOOP = 18, NONE = 31, FOUND = 32 };
    struct bpf_insn prog[] = {
        /* 0 */ MOV_REG(BPF_REG_6, BPF_REG_1),
        /* 1 */ STORE_W_IMM(BPF_REG_10, -4, 0),
        /* 2 */ MOV_REG(BPF_REG_2, BPF_REG_10),
        /* 3 */ ALU_IMM(BPF_ADD, BPF_REG_2, -4),
        /* 4 */ MAP_FD(BPF_REG_1, table_map),
        /* 6 */ CALL(BPF_FUNC_map_lookup_elem),
        /* 7 */ JUMP_IMM(BPF_JEQ, BPF_REG_0, 0, PASS - 8),
        /* 8 */ MOV_REG(BPF_REG_7, BPF_REG_0),
        /* 9 */ LOAD_W(BPF_REG_8, BPF_REG_7, (int16_t)off_nslots),
        /* 10 */ JUMP_IMM(BPF_JEQ, BPF_REG_8, 0, PASS - 11),
        /* 11 */ JUMP_IMM(BPF_JGT, BPF_REG_8, (int32_t)max_slots, PASS - 12),
        /* 12 */ LOAD_W(BPF_REG_9, BPF_REG_6, (int16_t)offsetof(struct sk_reuseport_md, hash)),
        /* 13 */ ALU_REG(BPF_MOD, BPF_REG_9, BPF_REG_8),
        /* 14 */ MOV_IMM(BPF_REG_5, 0),
        /* 15 */ MOV_REG(BPF_REG_2, BPF_REG_8),
        /* 16 */ JUMP_IMM(BPF_JLE, BPF_REG_2, STEER_SCAN, 1),
        /* 17 */ MOV_IMM(BPF_REG_2, STEER_SCAN),
        /* 18 LOOP */ JUMP_REG(BPF_JGE, BPF_REG_5, BPF_REG_2, NONE - 19),
        /* 19 */ MOV_REG(BPF_REG_4, BPF_REG_9),
        /* 20 */ ALU_REG(BPF_ADD, BPF_REG_4, BPF_REG_5),
        /* 21 */ JUMP_REG(BPF_JLT, BPF_REG_4, BPF_REG_8, 1),
        /* 22 */ ALU_REG(BPF_SUB, BPF_REG_4, BPF_REG_8),
        /* 23 */ ALU_IMM(BPF_AND, BPF_REG_4, (int32_t)(max_slots - 1)),
        /* 24 */ MOV_REG(BPF_REG_3, BPF_REG_4),
        /* 25 */ ALU_IMM(BPF_LSH, BPF_REG_3, 6), /* 64 bytes a slot (share.h) */
        /* 26 */ ALU_REG(BPF_ADD, BPF_REG_3, BPF_REG_7),
        /* 27 */ LOAD_W(BPF_REG_3, BPF_REG_3, (int16_t)off_free),
        /* 28 */ JUMP_IMM(BPF_JNE, BPF_REG_3, 0, FOUND - 29),
        /* 29 */ ALU_IMM(BPF_ADD, BPF_REG_5, 1),
        /* 30 */ JUMP(LOOP - 31),
        /* 31 NONE */ MOV_REG(BPF_REG_4, BPF_REG_9),
        /* 32 FOUND */ STORE_W_REG(BPF_REG_10, -8, BPF_REG_4),
        /* 33 */ MOV_REG(BPF_REG_1, BPF_REG_6),
        /* 34 */ MAP_FD(BPF_REG_2, sockets),
        /* 36 */ MOV_REG(BPF_REG_3, BPF_REG_10),
        /* 37 */ ALU_IMM(BPF_ADD, BPF_REG_3, -8),
        /* 38 */ MOV_IMM(BPF_REG_4, 0),
        /* 39 */ CALL(BPF_FUNC_sk_select_reuseport),
        /* 40 PASS */ MOV_IMM(BPF_REG_0, SK_PASS),
        /* 41 */ EXIT(),
    };
    _Static_assert(sizeof(prog) / sizeof(prog[0]) == 42, "jump targets above");
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_SK_REUSEPORT;
    attr.insns = (uint64_t)(uintptr_t)prog;
    attr.insn_cnt = sizeof(prog) / sizeof(prog[0]);
    attr.license = (uint64_t)(uintptr_t) "Dual MIT/GPL";
    int fd = (int)sys_bpf(BPF_PROG_LOAD, &attr);
    if (fd >= 0 || !loglen)
        return fd;
    /* refused: once more with the verifier's log, for the message (a log too small for
     * a program that passes would itself fail the load, so the first try has none) */
    int saved = errno;
    attr.log_buf = (uint64_t)(uintptr_t)log;
    attr.log_size = (uint32_t)loglen;
    attr.log_level = 1;
    fd = (int)sys_bpf(BPF_PROG_LOAD, &attr);
    if (fd >= 0)
        return fd;
    errno = saved;
    return -1;
}

static void fail(char *err, size_t errlen, const char *what)
{
    int e = errno;
    snprintf(err, errlen, "%s: %s%s", what, strerror(e),
             e == EPERM ? " (needs CAP_BPF, or root, and no seccomp profile blocking bpf(2))" : "");
}

int steer_open(steer_t *st, size_t table_size, unsigned nbinds, size_t off_nslots, size_t off_free,
               unsigned max_slots, char *err, size_t errlen)
{
    memset(st, 0, sizeof(*st));
    st->table_map = -1;
    st->nbinds = nbinds;
    for (unsigned b = 0; b < STEER_MAX_BINDS; b++)
        st->sockets[b] = st->progs[b] = -1;
    if (nbinds > STEER_MAX_BINDS || (max_slots & (max_slots - 1)) || off_free > 4096) {
        snprintf(err, errlen, "more than %d bind addresses", STEER_MAX_BINDS);
        return -1;
    }
    long page = sysconf(_SC_PAGESIZE);
    st->table_size = (table_size + (size_t)page - 1) & ~((size_t)page - 1);
    st->table_map = make_map(BPF_MAP_TYPE_ARRAY, (uint32_t)table_size, 1, BPF_F_MMAPABLE);
    if (st->table_map < 0) {
        fail(err, errlen, "cannot create the table's map");
        goto out;
    }
    st->table = mmap(NULL, st->table_size, PROT_READ | PROT_WRITE, MAP_SHARED, st->table_map, 0);
    if (st->table == MAP_FAILED) {
        st->table = NULL;
        fail(err, errlen, "cannot map the table's map");
        goto out;
    }
    for (unsigned b = 0; b < nbinds; b++) {
        st->sockets[b] = make_map(BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, sizeof(uint64_t), max_slots, 0);
        if (st->sockets[b] < 0) {
            fail(err, errlen, "cannot create a socket array");
            goto out;
        }
        char log[4096] = "";
        st->progs[b] = load_program(st->table_map, st->sockets[b], off_nslots, off_free, max_slots,
                                    log, sizeof(log));
        if (st->progs[b] < 0) {
            fail(err, errlen, "the kernel refused the steering program");
            size_t n = strlen(err);
            if (log[0] && n + 3 < errlen)
                snprintf(err + n, errlen - n, " (%.*s)", (int)strcspn(log, "\n"), log);
            goto out;
        }
    }
    return 0;
out:
    if (st->table)
        munmap(st->table, st->table_size);
    st->table = NULL;
    steer_close(st);
    return -1;
}

int steer_add(steer_t *st, unsigned k, unsigned b, int listen_fd, char *err, size_t errlen)
{
    if (!st->table || b >= st->nbinds)
        return 0;
    uint32_t key = k;
    uint64_t value = (uint64_t)listen_fd;
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_fd = (uint32_t)st->sockets[b];
    attr.key = (uint64_t)(uintptr_t)&key;
    attr.value = (uint64_t)(uintptr_t)&value;
    attr.flags = BPF_ANY;
    if (sys_bpf(BPF_MAP_UPDATE_ELEM, &attr) < 0) {
        /* the program's select fails for this slot, and the kernel's hash decides */
        fail(err, errlen, "cannot enter a listener into the socket array");
        st->active = false;
        return -1;
    }
    if (k == 0 && setsockopt(listen_fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &st->progs[b],
                             sizeof(st->progs[b])) < 0) {
        fail(err, errlen, "cannot attach the steering program");
        st->active = false;
        return -1;
    }
    return 0;
}

void steer_close(steer_t *st)
{
    for (unsigned b = 0; b < STEER_MAX_BINDS; b++) {
        if (st->progs[b] >= 0)
            close(st->progs[b]);
        if (st->sockets[b] >= 0)
            close(st->sockets[b]);
        st->progs[b] = st->sockets[b] = -1;
    }
    if (st->table_map >= 0)
        close(st->table_map);
    st->table_map = -1;
    st->active = false;
}
