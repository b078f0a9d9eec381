/* Checks the memory-management syscalls; prints one `name=true|false` line per behaviour. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

static void check(const char *name, int ok) {
    printf("%s=%s\n", name, ok ? "true" : "false");
}

int main(void) {
    long page = sysconf(_SC_PAGESIZE);
    check("pagesize_4k", page == 4096);
    check("at_pagesz", getauxval(AT_PAGESZ) == 4096);
    check("at_random_set", getauxval(AT_RANDOM) != 0);

    char *p = mmap(0, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check("mmap_ok", p != MAP_FAILED);
    check("mmap_zeroed", p[0] == 0 && p[4 * page - 1] == 0);
    memset(p, 0x5a, 4 * page);

    check("munmap_middle", munmap(p + page, page) == 0);
    check("mprotect_unmapped_enomem", mprotect(p, 4 * page, PROT_READ) == -1);
    check("mprotect_ok", mprotect(p + 2 * page, page, PROT_READ) == 0);
    check("data_kept", p[2 * page] == 0x5a && p[3 * page] == 0x5a);

    char *fixed = mmap(p + page, page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    check("noreplace_into_hole", fixed == p + page);
    char *clash = mmap(p, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    check("noreplace_clash_fails", clash == MAP_FAILED);

    check("madvise_dontneed", madvise(p, page, MADV_DONTNEED) == 0 && p[0] == 0);

    char *grown = mremap(p + 3 * page, page, 64 * page, MREMAP_MAYMOVE);
    check("mremap_ok", grown != MAP_FAILED);
    check("mremap_keeps_data", grown[0] == 0x5a && grown[63 * page] == 0);

    void *brk0 = sbrk(0);
    check("brk_grows", sbrk(3 * page) == brk0 && sbrk(0) == (char *)brk0 + 3 * page);
    memset(brk0, 1, 3 * page);
    check("brk_shrinks", sbrk(-2 * page) != (void *)-1 && sbrk(0) == (char *)brk0 + page);
    return 0;
}
