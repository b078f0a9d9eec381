/* Syscall benchmark: one million getppid calls, the cheapest syscall with a result. */
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    long total = 0;
    for (int i = 0; i < 1000000; i++) {
        total += syscall(SYS_getppid);
    }
    printf("%d\n", total == 1000000L * getppid());
    return 0;
}
