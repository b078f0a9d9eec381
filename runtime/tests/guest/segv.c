/* Stores through a null pointer: the process must die of SIGSEGV. */
#include <stdio.h>

int main(void) {
    volatile int *null = 0;
    printf("before\n");
    fflush(stdout);
    *null = 1;
    printf("after\n");
    return 0;
}
