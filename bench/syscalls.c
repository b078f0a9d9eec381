/* Syscall benchmark: one million getpid calls. getpid does no work in the kernel, so the
 * time is the cost of leaving the guest and coming back. */
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    long total = 0;
    for (int i = 0; i < 1000000; i++) {
        total += syscall(SYS_getpid);
    }
    printf("%d\n", total == 1000000L * getpid());
    return 0;
}
