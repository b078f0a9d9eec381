/* Prints its arguments and exits with status 3, so the test can check argv and exit. */
#include <stdio.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        printf("arg%d=%s\n", i, argv[i]);
    }
    printf("hello\n");
    return 3;
}
