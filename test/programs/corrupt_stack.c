/*
 * corrupt_stack.c — crashes whose stack cannot be trusted, for the friendly
 * reporter's walk: it must still print its message and as many frames as
 * it can trust, and end, whatever it finds.
 *
 *   corrupt_stack MODE
 *     garbage_frame_pointer  code without unwind information faults with
 *                            rbp = 0x4141414141414141
 *     frame_pointer_loop     same, with rbp pointing at a frame that names
 *                            itself as its caller's
 *     null_call              a call through a NULL function pointer
 *     smashed_return         a function overwrites its own return address
 *                            with 0x4141414141414141, then faults
 *     return_to_garbage      a function returns to 0x414141414141
 *     garbage_stack_pointer  a fault with rsp = 0x4141414141414140
 *
 * The functions are written in assembly (x86-64): a compiler would not let
 * C say any of this. Prints "corrupt_stack: MODE" (flushed) first.
 */
#include <stdio.h>
#include <string.h>

void garbage_frame_pointer(void);
void frame_pointer_loop(void);
void smashed_return(void);
void return_to_garbage(void);
void garbage_stack_pointer(void);

/* No .cfi directives in the first two: no unwind information, so the
 * walk has only rbp to go by. The others have theirs. */
__asm__(".text\n"
	".globl garbage_frame_pointer\n"
	".type garbage_frame_pointer,@function\n"
	"garbage_frame_pointer:\n"
	"	push %rbp\n"
	"	mov %rsp, %rbp\n"
	"	movabs $0x4141414141414141, %rbp\n"
	"	movl $1, 0\n"
	"	ud2\n"
	".size garbage_frame_pointer, .-garbage_frame_pointer\n"

	".globl frame_pointer_loop\n"
	".type frame_pointer_loop,@function\n"
	"frame_pointer_loop:\n"
	"	push %rbp\n"
	"	mov %rsp, %rbp\n"
	"	sub $16, %rsp\n"
	"	lea frame_pointer_loop(%rip), %rax\n"
	"	mov %rax, 8(%rsp)\n"
	"	mov %rsp, (%rsp)\n"
	"	mov %rsp, %rbp\n"
	"	movl $1, 0\n"
	"	ud2\n"
	".size frame_pointer_loop, .-frame_pointer_loop\n"

	".globl smashed_return\n"
	".type smashed_return,@function\n"
	"smashed_return:\n"
	"	.cfi_startproc\n"
	"	movabs $0x4141414141414141, %rax\n"
	"	mov %rax, (%rsp)\n"
	"	movl $1, 0\n"
	"	ud2\n"
	"	.cfi_endproc\n"
	".size smashed_return, .-smashed_return\n"

	".globl return_to_garbage\n"
	".type return_to_garbage,@function\n"
	"return_to_garbage:\n"
	"	.cfi_startproc\n"
	"	movabs $0x414141414141, %rax\n"
	"	mov %rax, (%rsp)\n"
	"	ret\n"
	"	.cfi_endproc\n"
	".size return_to_garbage, .-return_to_garbage\n"

	".globl garbage_stack_pointer\n"
	".type garbage_stack_pointer,@function\n"
	"garbage_stack_pointer:\n"
	"	.cfi_startproc\n"
	"	movabs $0x4141414141414140, %rsp\n"
	"	movl $1, 0\n"
	"	ud2\n"
	"	.cfi_endproc\n"
	".size garbage_stack_pointer, .-garbage_stack_pointer\n");

/* Out of the compiler's sight, so the call is made. */
static void (*volatile nowhere)(void);

int main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "";
	printf("corrupt_stack: %s\n", mode);
	fflush(stdout);
	if (!strcmp(mode, "garbage_frame_pointer"))
		garbage_frame_pointer();
	else if (!strcmp(mode, "frame_pointer_loop"))
		frame_pointer_loop();
	else if (!strcmp(mode, "null_call"))
		nowhere();
	else if (!strcmp(mode, "smashed_return"))
		smashed_return();
	else if (!strcmp(mode, "return_to_garbage"))
		return_to_garbage();
	else if (!strcmp(mode, "garbage_stack_pointer"))
		garbage_stack_pointer();
	else {
		fprintf(stderr, "corrupt_stack: unknown mode '%s'\n", mode);
		return 2;
	}
	printf("corrupt_stack: survived %s\n", mode);
	return 0;
}
