/*
 * trampoline.c — a GCC nested function called through a pointer: GCC
 * builds a trampoline for it on the stack, which runs only where the stack
 * is executable (PT_GNU_STACK with PF_X: built with -z execstack). Prints
 * the [stack] mapping's permissions, then the nested function's result; a
 * stack that is not executable ends it with SIGSEGV.
 */
#include <stdio.h>
#include <string.h>

static int apply(int (*f)(int), int x) {
	return f(x);
}

static void print_stack_permissions(void) {
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[512];
	if (!maps) {
		perror("fopen /proc/self/maps");
		return;
	}
	while (fgets(line, sizeof line, maps)) {
		char permissions[8];
		if (strstr(line, "[stack]") && sscanf(line, "%*s %7s", permissions) == 1)
			printf("stack=%s\n", permissions);
	}
	fclose(maps);
}

int main(int argc, char **argv) {
	(void)argv;
	int offset = argc * 40;
	int add_offset(int x) {
		return x + offset;
	}
	print_stack_permissions();
	fflush(stdout);
	printf("nested=%d\n", apply(add_offset, 2));
	return 0;
}
