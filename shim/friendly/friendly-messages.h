/*
 * friendly-messages.h — the encouraging messages, one of which opens every
 * crash report. One string literal per line and nothing else between the
 * braces: the tests read this file to know the set.
 */
#ifndef FAULTLINE_FRIENDLY_MESSAGES_H
#define FAULTLINE_FRIENDLY_MESSAGES_H

static const char *const FRIENDLY_MESSAGES[] = {
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

#define FRIENDLY_MESSAGE_COUNT (sizeof FRIENDLY_MESSAGES / sizeof FRIENDLY_MESSAGES[0])

#endif
