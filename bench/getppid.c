/* One million getppid calls. carrick, like qemu-aarch64, serves getppid with a host
 * syscall, so both pay the host kernel's cost on top of their own. */
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
