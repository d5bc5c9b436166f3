/*
 * cxx_exceptions.cpp - exercises C++ exception handling: unwinding through
 * several frames (needs .eh_frame / .eh_frame_hdr / PT_GNU_EH_FRAME and the
 * personality routine), std::runtime_error, a custom exception type, a
 * rethrow, and RAII destructors running during unwinding (including a
 * destructor that throws and catches internally while unwinding).
 *
 * Prints the sequence of events and exits 0; exits 1 if an event is out of
 * place.
 */
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

static int live_guards = 0;    // RAII counter
static int destroyed = 0;

static void event(const std::string &s)
{
    std::printf("%s\n", s.c_str());
}

struct Guard {
    std::string name;
    explicit Guard(const std::string &n) : name(n)
    {
        ++live_guards;
        event("construct " + name);
    }
    ~Guard()
    {
        --live_guards;
        ++destroyed;
        event("destroy " + name);
    }
    Guard(const Guard &) = delete;
    Guard &operator=(const Guard &) = delete;
};

struct CustomError {
    int code;
    std::string where;
};

// Destructor that runs during unwinding and uses exceptions internally.
struct Cleaner {
    ~Cleaner()
    {
        try {
            throw std::logic_error("inside destructor");
        } catch (const std::logic_error &e) {
            event(std::string("cleaner caught: ") + e.what());
        }
    }
};

__attribute__((noinline)) static void level3(int kind)
{
    Guard g("level3");
    if (kind == 0)
        throw std::runtime_error("runtime failure at level3");
    if (kind == 1)
        throw CustomError{42, "level3"};
    throw 7;
}

__attribute__((noinline)) static void level2(int kind)
{
    Guard g("level2");
    Cleaner c;
    level3(kind);
    event("level2 unreachable");
}

__attribute__((noinline)) static void level1(int kind)
{
    Guard g("level1");
    try {
        level2(kind);
    } catch (const CustomError &e) {
        event("level1 saw custom error " + std::to_string(e.code) +
              ", rethrowing");
        throw;
    }
    event("level1 unreachable");
}

static int fail(const char *msg)
{
    std::printf("FAIL: %s\n", msg);
    return 1;
}

int main()
{
    // 1. std::runtime_error through three frames.
    try {
        level1(0);
        return fail("no exception from level1(0)");
    } catch (const std::exception &e) {
        event(std::string("main caught std::exception: ") + e.what());
    }
    if (live_guards != 0)
        return fail("guards leaked after runtime_error");

    // 2. Custom type, caught, rethrown with `throw;`, caught again.
    try {
        level1(1);
        return fail("no exception from level1(1)");
    } catch (const CustomError &e) {
        event("main caught custom error code=" + std::to_string(e.code) +
              " where=" + e.where);
    }
    if (live_guards != 0)
        return fail("guards leaked after custom error");

    // 3. Non-class exception caught with catch-all, then rethrown through
    //    a nested handler.
    try {
        try {
            level1(2);
        } catch (...) {
            event("inner catch-all, rethrowing");
            throw;
        }
    } catch (int v) {
        event("main caught int " + std::to_string(v));
    }
    if (live_guards != 0)
        return fail("guards leaked after int");

    // 4. std::exception_ptr round-trip.
    std::exception_ptr saved;
    try {
        throw std::out_of_range("saved for later");
    } catch (...) {
        saved = std::current_exception();
    }
    try {
        std::rethrow_exception(saved);
    } catch (const std::out_of_range &e) {
        event(std::string("rethrown exception_ptr: ") + e.what());
    }

    event("destroyed=" + std::to_string(destroyed));
    event("done");
    return destroyed == 9 ? 0 : fail("unexpected destructor count");
}
