/* Finds the vDSO through getauxval(AT_SYSINFO_EHDR), looks up its exports the way a C
 * library or Go's runtime does (program headers, PT_DYNAMIC, DT_HASH chains, DT_VERSYM and
 * DT_VERDEF), calls them and compares each result with the syscall's. Prints one
 * `name=value` line per check. */
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef long (*clock_fn)(long clock, struct timespec *ts);
typedef long (*timeofday_fn)(struct timeval *tv, void *tz);

struct vdso {
    uintptr_t load_offset;
    const Elf64_Sym *symbols;
    const char *strings;
    const uint32_t *hash;
    const Elf64_Versym *versym;
    const Elf64_Verdef *verdef;
};

static int vdso_open(struct vdso *v, uintptr_t base) {
    const Elf64_Ehdr *header = (const Elf64_Ehdr *)base;
    const Elf64_Phdr *phdrs = (const Elf64_Phdr *)(base + header->e_phoff);
    const Elf64_Dyn *dynamic = NULL;
    int have_load = 0;
    memset(v, 0, sizeof *v);
    for (int i = 0; i < header->e_phnum; i++) {
        if (phdrs[i].p_type == PT_LOAD && !have_load) {
            v->load_offset = base + phdrs[i].p_offset - phdrs[i].p_vaddr;
            have_load = 1;
        } else if (phdrs[i].p_type == PT_DYNAMIC) {
            dynamic = (const Elf64_Dyn *)(base + phdrs[i].p_offset);
        }
    }
    if (!have_load || dynamic == NULL)
        return 0;
    for (; dynamic->d_tag != DT_NULL; dynamic++) {
        uintptr_t address = v->load_offset + dynamic->d_un.d_ptr;
        switch (dynamic->d_tag) {
        case DT_SYMTAB: v->symbols = (const Elf64_Sym *)address; break;
        case DT_STRTAB: v->strings = (const char *)address; break;
        case DT_HASH: v->hash = (const uint32_t *)address; break;
        case DT_VERSYM: v->versym = (const Elf64_Versym *)address; break;
        case DT_VERDEF: v->verdef = (const Elf64_Verdef *)address; break;
        }
    }
    return v->symbols && v->strings && v->hash && v->versym && v->verdef;
}

/* Returns the version index whose name is `name`, or -1. */
static int version_index(const struct vdso *v, const char *name) {
    const Elf64_Verdef *def = v->verdef;
    for (;;) {
        const Elf64_Verdaux *aux = (const Elf64_Verdaux *)((const char *)def + def->vd_aux);
        if (!(def->vd_flags & VER_FLG_BASE) && strcmp(v->strings + aux->vda_name, name) == 0)
            return def->vd_ndx & 0x7fff;
        if (def->vd_next == 0)
            return -1;
        def = (const Elf64_Verdef *)((const char *)def + def->vd_next);
    }
}

static unsigned long elf_hash(const char *name) {
    unsigned long h = 0;
    while (*name) {
        h = (h << 4) + (unsigned char)*name++;
        unsigned long g = h & 0xf0000000;
        if (g)
            h ^= g >> 24;
        h &= ~g;
    }
    return h;
}

static void *vdso_lookup(const struct vdso *v, const char *name, int version) {
    uint32_t buckets = v->hash[0];
    const uint32_t *bucket = v->hash + 2;
    const uint32_t *chain = bucket + buckets;
    for (uint32_t i = bucket[elf_hash(name) % buckets]; i != 0; i = chain[i]) {
        const Elf64_Sym *symbol = &v->symbols[i];
        if (ELF64_ST_TYPE(symbol->st_info) != STT_FUNC || symbol->st_shndx == SHN_UNDEF)
            continue;
        if (strcmp(v->strings + symbol->st_name, name) != 0)
            continue;
        if ((v->versym[i] & 0x7fff) != version)
            continue;
        return (void *)(v->load_offset + symbol->st_value);
    }
    return NULL;
}

static int64_t nanoseconds(struct timespec ts) {
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void check_clock(clock_fn vdso_gettime, clock_fn vdso_getres, long clock,
                        const char *name) {
    struct timespec before, during, after, res_vdso, res_sys;
    long r1 = vdso_gettime(clock, &before);
    long r2 = syscall(SYS_clock_gettime, clock, &during);
    long r3 = vdso_gettime(clock, &after);
    printf("%s_gettime_result=%ld\n", name, r1 | r3);
    printf("%s_gettime_syscall_result=%ld\n", name, r2);
    printf("%s_vdso_brackets_syscall=%d\n", name,
           nanoseconds(before) <= nanoseconds(during) && nanoseconds(during) <= nanoseconds(after));
    long g1 = vdso_getres(clock, &res_vdso);
    long g2 = syscall(SYS_clock_getres, clock, &res_sys);
    printf("%s_getres_equal=%d\n", name,
           g1 == 0 && g2 == 0 && res_vdso.tv_sec == res_sys.tv_sec &&
               res_vdso.tv_nsec == res_sys.tv_nsec);
}

int main(void) {
    uintptr_t base = getauxval(AT_SYSINFO_EHDR);
    printf("at_sysinfo_ehdr_present=%d\n", base != 0);
    struct vdso v;
    if (base == 0 || !vdso_open(&v, base)) {
        printf("vdso_parsed=0\n");
        return 1;
    }
    int version = version_index(&v, "LINUX_2.6.39");
    printf("version_index=%d\n", version);
    clock_fn gettime = (clock_fn)vdso_lookup(&v, "__kernel_clock_gettime", version);
    clock_fn getres = (clock_fn)vdso_lookup(&v, "__kernel_clock_getres", version);
    timeofday_fn timeofday = (timeofday_fn)vdso_lookup(&v, "__kernel_gettimeofday", version);
    void *sigreturn = vdso_lookup(&v, "__kernel_rt_sigreturn", version);
    printf("symbols_found=%d\n", gettime && getres && timeofday && sigreturn);
    if (!gettime || !getres || !timeofday)
        return 1;

    check_clock(gettime, getres, CLOCK_REALTIME, "realtime");
    check_clock(gettime, getres, CLOCK_MONOTONIC, "monotonic");

    /* An invalid clock fails in the vDSO exactly as in the syscall: a raw -EINVAL. */
    struct timespec ignored;
    printf("invalid_clock_vdso=%ld\n", gettime(-100, &ignored));
    printf("invalid_clock_syscall=%d\n",
           syscall(SYS_clock_gettime, -100, &ignored) == -1 ? -errno : 0);

    struct timeval tv_vdso, tv_sys;
    long t1 = timeofday(&tv_vdso, NULL);
    long t2 = syscall(SYS_gettimeofday, &tv_sys, NULL);
    int64_t vdso_us = (int64_t)tv_vdso.tv_sec * 1000000 + tv_vdso.tv_usec;
    int64_t sys_us = (int64_t)tv_sys.tv_sec * 1000000 + tv_sys.tv_usec;
    printf("gettimeofday_result=%ld\n", t1 | t2);
    printf("gettimeofday_ordered=%d\n", vdso_us <= sys_us && sys_us - vdso_us < 10000000);

    /* glibc's own clock_gettime goes through the vDSO too. */
    struct timespec libc_ts, sys_ts;
    clock_gettime(CLOCK_REALTIME, &libc_ts);
    syscall(SYS_clock_gettime, CLOCK_REALTIME, &sys_ts);
    printf("libc_clock_gettime_ordered=%d\n", nanoseconds(libc_ts) <= nanoseconds(sys_ts));
    return 0;
}
