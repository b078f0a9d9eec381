/* CPU-bound benchmark: a register-only loop (an LCG and a xor-shift) with no memory traffic
 * and no syscalls until the final printf. */
#include <stdint.h>
#include <stdio.h>

int main(void) {
    uint64_t state = 1, mix = 0;
    for (uint64_t i = 0; i < 400000000ULL; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        mix ^= state >> 29;
        mix = (mix << 7) | (mix >> 57);
    }
    printf("%llu\n", (unsigned long long)mix);
    return 0;
}
