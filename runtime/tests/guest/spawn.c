/* posix_spawn and fork: glibc's posix_spawn creates the child with clone3 (CLONE_VM |
 * CLONE_VFORK and a separate stack), falling back to clone only on ENOSYS. The child
 * reports its arguments and exits with a status the parent checks, and a failed exec in
 * the child comes back as posix_spawn's error. */
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc > 1) {
        printf("child_arg=%s\n", argv[1]);
        return 5;
    }
    fflush(stdout);

    pid_t pid = 0;
    char *args[] = {argv[0], "spawned", NULL};
    int rc = posix_spawn(&pid, argv[0], NULL, NULL, args, environ);
    int status = 0;
    pid_t waited = waitpid(pid, &status, 0);
    printf("spawn_ok=%s\n", rc == 0 && pid > 0 ? "true" : "false");
    printf("spawn_waited=%s\n", waited == pid ? "true" : "false");
    printf("spawn_status=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    fflush(stdout);

    /* The exec fails in the child, which reports it through the parent's memory: Linux
     * returns the error from posix_spawn and reaps nothing that ran. */
    char *missing[] = {"/nonexistent/program", NULL};
    rc = posix_spawn(&pid, missing[0], NULL, NULL, missing, environ);
    printf("spawn_missing=%s\n", strerror(rc));
    if (rc == 0) {
        waitpid(pid, &status, 0);
    }
    fflush(stdout);

    pid = fork();
    if (pid == 0) {
        _exit(9);
    }
    waited = waitpid(pid, &status, 0);
    printf("fork_status=%d\n", waited == pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}
