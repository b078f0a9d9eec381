/* Remaps, reprotects and unmaps memory round after round while chasing pointers and counting
 * with atomics across more pages than the emulator's TLB has entries, and checks every value
 * it reads back. A load, store or atomic that ran twice, or a translation or page that
 * outlived a mapping change, makes a check fail or the program crash.
 * Prints one `name=true|false` line per behaviour. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096ul
#define PAGES 2048ul
#define ROUNDS 24
#define CHASES 200000ul

static void check(const char *name, int ok) {
    printf("%s=%s\n", name, ok ? "true" : "false");
}

/* Node k sits at the start of page k * 7 mod PAGES (7 and PAGES are coprime), so
 * consecutive nodes are on pages far apart. */
static uintptr_t **node(char *base, unsigned long k) {
    return (uintptr_t **)(base + (k * 7 % PAGES) * PAGE);
}

/* Links node k to node k + 1 and puts a round-specific word after each link. */
static void build_ring(char *base, unsigned long round) {
    for (unsigned long k = 0; k < PAGES; k++) {
        uintptr_t **entry = node(base, k);
        entry[0] = (uintptr_t *)node(base, (k + 1) % PAGES);
        entry[1] = (uintptr_t *)(round * PAGES + k);
    }
}

/* Follows `steps` links from node 0. `p = *p` becomes a load whose address and destination
 * are the same register (`ldr x1, [x1]` with GCC 12 at -O2). */
static uintptr_t **chase(char *base, unsigned long steps) {
    uintptr_t **p = node(base, 0);
    for (unsigned long i = 0; i < steps; i++) {
        p = (uintptr_t **)*p;
    }
    return p;
}

int main(void) {
    char *base = mmap(0, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
    if (base == MAP_FAILED) {
        perror("mmap");
        return 1;
    }

    int chase_ok = 1, words_ok = 1, fresh_zero = 1, readonly_kept = 1, atomics_ok = 1;
    int unmap_ok = 1, remap_ok = 1;
    for (unsigned long round = 0; round < ROUNDS; round++) {
        build_ring(base, round);
        unsigned long steps = CHASES + round;
        chase_ok &= chase(base, steps) == node(base, steps % PAGES);
        for (unsigned long k = 0; k < PAGES; k += 97) {
            words_ok &= (unsigned long)node(base, k)[1] == round * PAGES + k;
        }

        /* Every page gets the same number of atomic increments, in a page order that
         * misses the TLB on nearly every access. */
        for (unsigned long i = 0; i < 4 * PAGES; i++) {
            uint64_t *counter = (uint64_t *)node(base, i % PAGES) + 2;
            __atomic_fetch_add(counter, 1, __ATOMIC_SEQ_CST);
        }
        for (unsigned long k = 0; k < PAGES; k += 89) {
            atomics_ok &= ((uint64_t *)node(base, k))[2] == 4;
        }

        /* Read-only pages keep their contents and stay readable. */
        char *middle = base + (PAGES / 2) * PAGE;
        if (mprotect(middle, 64 * PAGE, PROT_READ) != 0) {
            readonly_kept = 0;
        }
        for (unsigned long k = 0; k < 64; k++) {
            readonly_kept &= middle[k * PAGE + 100] == 0;
        }
        readonly_kept &= chase(base, steps) == node(base, steps % PAGES);

        /* A hole in the middle, then a fresh mapping in its place must read as zeros. */
        unmap_ok &= munmap(middle + 16 * PAGE, 16 * PAGE) == 0;
        char *hole = mmap(middle + 16 * PAGE, 16 * PAGE, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        remap_ok &= hole == middle + 16 * PAGE;
        for (unsigned long k = 0; k < 16; k++) {
            fresh_zero &= ((uint64_t *)(hole + k * PAGE))[0] == 0;
        }

        /* MAP_FIXED over the whole area replaces every page with zeros. */
        char *again = mmap(base, PAGES * PAGE, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        remap_ok &= again == base;
        for (unsigned long k = 0; k < PAGES; k += 61) {
            fresh_zero &= ((uint64_t *)node(base, k))[0] == 0;
            fresh_zero &= ((uint64_t *)node(base, k))[2] == 0;
        }
    }

    check("chase_ends_on_expected_node", chase_ok);
    check("ring_words_match_round", words_ok);
    check("atomics_counted_once", atomics_ok);
    check("readonly_pages_keep_data", readonly_kept);
    check("munmap_ok", unmap_ok);
    check("remap_at_same_address", remap_ok);
    check("replaced_pages_are_zero", fresh_zero);
    return 0;
}
