/*
 * uncaught_exception.cpp — a C++ exception nobody catches: std::terminate
 * prints what was thrown and calls abort (SIGABRT).
 *
 *   uncaught_exception   parse_age throws std::invalid_argument; main has
 *                        no try around the call
 *
 * Prints "uncaught_exception: parsing" (flushed) first.
 */
#include <cstdio>
#include <stdexcept>

__attribute__((noinline)) static int parse_age(int given) {
	if (given < 1)
		throw std::invalid_argument("age must be positive"); // uncaught_exception: throw
	return given;
}

int main(int argc, char **) {
	std::printf("uncaught_exception: parsing\n");
	std::fflush(stdout);
	int age = parse_age(argc - 1); // uncaught_exception: call
	std::printf("uncaught_exception: age %d\n", age);
	return 0;
}
