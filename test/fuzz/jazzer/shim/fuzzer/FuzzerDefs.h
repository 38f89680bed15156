// The two declarations Jazzer.js's addon takes from compiler-rt's internal
// <fuzzer/FuzzerDefs.h>, which Debian's libclang-rt package does not ship. The driver is
// renamed so that the addon calls shim.cpp's wrapper (see there) instead of libFuzzer's.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fuzzer {
typedef int (*UserCallback)(const uint8_t *Data, size_t Size);
int PiwireFuzzerDriver(int *argc, char ***argv, UserCallback Callback);
} // namespace fuzzer

#define FuzzerDriver PiwireFuzzerDriver
