/* Startup benchmark: a static program that exits at once, like /bin/true. */
int main(void) {
    return 0;
}
