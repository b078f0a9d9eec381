/* Memory benchmark: random read-modify-write over a 64 MiB array, so nearly every access
 * touches a different 4 KiB page than the one before (TLB and softmmu cost). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define WORDS (64u * 1024 * 1024 / sizeof(uint64_t))

int main(void) {
    uint64_t *array = calloc(WORDS, sizeof(uint64_t));
    if (!array) {
        return 1;
    }
    uint64_t x = 88172645463325252ULL, sum = 0;
    for (uint64_t i = 0; i < 40000000ULL; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t *slot = &array[x % WORDS];
        *slot += i;
        sum += *slot;
    }
    printf("%llu\n", (unsigned long long)sum);
    return 0;
}
