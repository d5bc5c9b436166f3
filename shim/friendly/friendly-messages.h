/*
 * friendly-messages.h — the encouraging messages, one of which opens every
 * crash report: a set for each kind of crash, each set as large as the
 * segfaults' (the report picks from the set of the signal it got). One
 * string literal per line and nothing else between the braces: the tests
 * read this file to know the sets.
 */
#ifndef FAULTLINE_FRIENDLY_MESSAGES_H
#define FAULTLINE_FRIENDLY_MESSAGES_H

/* Every set holds this many (checked below: a set one short would pick a
 * NULL message). */
#define FRIENDLY_MESSAGES_PER_KIND 10

/* SIGSEGV: a bad memory access. */
static const char *const SEGFAULT_MESSAGES[] = {
	"Segfaults happen to the best of us. Take a breath: this one can be found.",
	"Your program tripped over its memory, not over you. Let's see where.",
	"Every programmer you admire has seen this screen. Onward!",
	"A crash with an address is a bug with a map. Follow it below.",
	"Not the ending you wanted, but a fine start for a debugging session.",
	"Memory is tricky for everyone. You've got this; the clues are below.",
	"Deep breath. The computer is only asking for one more careful look.",
	"Bugs are how programs say what they need. This one left a note.",
	"Crashing is part of building. Have some water, then read the clue below.",
	"You are closer to working code than you were a minute ago. Really.",
};

/* SIGBUS: memory that is mapped but has nothing behind it. */
static const char *const BUS_ERROR_MESSAGES[] = {
	"A bus error sounds scary, but it is just memory with nothing behind it. Let's look.",
	"Your program reached for memory that had gone missing. The clue is below.",
	"Files change under running programs more often than you'd think. Here is where it hurt.",
	"This one is rarer than a segfault, and you found it. That is a skill.",
	"The address was mapped, the bytes were not. A puzzle worth a minute.",
	"Nothing you did is beyond repair. The report below points the way.",
	"Even seasoned systems programmers double-check their mappings. Onward!",
	"A short file behind a long mapping: a classic. You will spot it.",
	"Pause, stretch, then read the address below. It tells the story.",
	"Good news: a bus error is very specific. The diagnosis is below.",
};

/* SIGFPE: an arithmetic the processor refuses. */
static const char *const ARITHMETIC_MESSAGES[] = {
	"Dividing by zero has stumped mathematicians for centuries. You are in good company.",
	"The arithmetic went somewhere numbers cannot follow. Let's find the line.",
	"A division by zero is one of the friendliest bugs: it tells you exactly where.",
	"Math is hard for computers too. Here is the line that asked too much.",
	"Every programmer forgets an edge case now and then. This one is findable.",
	"Not a failure, a question: what should happen when the divisor is zero?",
	"The processor refused one calculation. The rest of your work is fine.",
	"Take a breath. One check before the division, and this is behind you.",
	"Numbers have limits, and your program just met one. The details are below.",
	"You just found an edge case before your users did. Well spotted.",
};

/* SIGABRT: the program (or its C library) stopped itself. */
static const char *const ABORT_MESSAGES[] = {
	"Your program stopped itself on purpose: something it checked was not true. Good catch.",
	"An abort is a safety net doing its job. Let's see what it caught.",
	"A check fired before things got worse. That is the best kind of crash.",
	"The program noticed a problem and said so. Below is what and where.",
	"Asserts and allocator checks exist to help you. This one just did.",
	"Stopping early beats silently wrong answers. You're on the right track.",
	"Somebody left a tripwire here, and it worked. Let's read the note.",
	"The C library spotted something off and stopped. The clue is below.",
	"Not your fault that it's hard. Every program has assumptions; one broke.",
	"Take a sip of water. The reason the program stopped is written below.",
};

/* SIGILL: an instruction the processor will not run. */
static const char *const ILLEGAL_INSTRUCTION_MESSAGES[] = {
	"The processor met an instruction it would not run. Let's see why it was there.",
	"Often this is a trap the compiler set on purpose. The report below tells which.",
	"An illegal instruction is a signpost, not a dead end. Follow it below.",
	"Compilers leave traps where code should never go. Your program went there.",
	"This looks strange, but it is very findable. The address is below.",
	"Even experts pause at this one. You have the report, so you are ahead.",
	"Either a deliberate trap or a jump astray: both are bugs you can fix.",
	"Breathe. The processor is only pointing at the place that surprised it.",
	"Unreachable code reached: a bug with a bright flag on it. Well found.",
	"You are learning how programs really run. This is part of it.",
};

/* SIGTRAP: a breakpoint with no debugger to stop at it. */
static const char *const BREAKPOINT_MESSAGES[] = {
	"A breakpoint fired, but no debugger was listening. Here is where it was.",
	"Somebody wanted to stop here and look. Now you can, with the report below.",
	"A trap for a debugger, sprung without one. Nothing mysterious: see below.",
	"Breakpoints are tools, and this one was left in. Let's find it.",
	"This is the program asking for a debugger. Maybe it is a good time for one.",
	"Not a disaster: a deliberate stop. The place is named below.",
	"Debugging is detective work, and this clue was left on purpose.",
	"You found a leftover breakpoint. That happens to everyone.",
	"The program paused itself with no one to resume it. Here is where.",
	"Good instincts lead to breakpoints. This one just needs a debugger.",
};

/* SIGSYS: a system call the process is not allowed to make. */
static const char *const SYSTEM_CALL_MESSAGES[] = {
	"A sandbox said no to one request. That is the sandbox working, and it is fixable.",
	"Your program asked the kernel for something its filter forbids. Details below.",
	"Security rules can be strict. This one names the call it stopped.",
	"The kernel turned down a system call. Let's see which and from where.",
	"Sandboxes are hard to get right for everyone. You're close.",
	"One forbidden call, clearly reported. A fine place to start.",
	"The filter did its job; now it is your turn. The report is below.",
	"Not a crash in your logic, a rule about what the program may do.",
	"Take a moment: the call number below tells you what to allow or avoid.",
	"You are working with real operating-system machinery. Impressive.",
};

#define FRIENDLY_SET_SIZE(set) (sizeof set / sizeof set[0])
_Static_assert(FRIENDLY_SET_SIZE(SEGFAULT_MESSAGES) == FRIENDLY_MESSAGES_PER_KIND, "segfault messages");
_Static_assert(FRIENDLY_SET_SIZE(BUS_ERROR_MESSAGES) == FRIENDLY_MESSAGES_PER_KIND, "bus error messages");
_Static_assert(FRIENDLY_SET_SIZE(ARITHMETIC_MESSAGES) == FRIENDLY_MESSAGES_PER_KIND, "arithmetic messages");
_Static_assert(FRIENDLY_SET_SIZE(ABORT_MESSAGES) == FRIENDLY_MESSAGES_PER_KIND, "abort messages");
_Static_assert(FRIENDLY_SET_SIZE(ILLEGAL_INSTRUCTION_MESSAGES) == FRIENDLY_MESSAGES_PER_KIND, "illegal instruction messages");
_Static_assert(FRIENDLY_SET_SIZE(BREAKPOINT_MESSAGES) == FRIENDLY_MESSAGES_PER_KIND, "breakpoint messages");
_Static_assert(FRIENDLY_SET_SIZE(SYSTEM_CALL_MESSAGES) == FRIENDLY_MESSAGES_PER_KIND, "system call messages");

#endif
