/*
 * exit_code.c - exercises exit status propagation.
 *
 * Exits with the status given as argv[1] (default 0) without printing.
 */
#include <stdlib.h>

int main(int argc, char **argv)
{
    return argc > 1 ? atoi(argv[1]) : 0;
}
