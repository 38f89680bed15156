// Links Jazzer.js 2.1's addon against Debian's stock libFuzzer (libclang-rt-14-dev)
// instead of the patched compiler-rt that its CMake build downloads (which cannot be
// fetched here). The patched libFuzzer differs from the stock one in three places the
// addon relies on; each is bridged here with stock libFuzzer entry points:
//
// 1. `__jazzer_set_death_callback`: stock libFuzzer registers its death callback (dump
//    the crashing input as crash-<sha1>, print the final stats) through the weak
//    `__sanitizer_set_death_callback`; defining it hands the callback to the addon's
//    `libfuzzer::PrintCrashingInput`, which the addon calls on a finding.
// 2. `__sanitizer_cov_trace_const_cmp8_with_pc` / `__sanitizer_cov_trace_pc_indir_with_pc`
//    (comparison and indirect-call feedback from instrumented JavaScript, keyed by a
//    JS-side id): forwarded to the stock hooks, which key by the caller's PC. The values
//    still feed libFuzzer's table of recent compares (its dictionary); only the value
//    profile loses the per-site key.
// 3. A callback result of -2 (the JS target threw: stop fuzzing and report): the stock
//    loop knows only 0 and -1, so the wrapper leaves libFuzzer's loop with longjmp and
//    returns to the addon, which reports the finding through (1).
#include <csetjmp>
#include <cstddef>
#include <cstdint>

namespace libfuzzer {
extern void (*PrintCrashingInput)();
}

namespace fuzzer {
typedef int (*UserCallback)(const uint8_t *Data, size_t Size);
int FuzzerDriver(int *argc, char ***argv, UserCallback Callback);
} // namespace fuzzer

extern "C" {
void __sanitizer_cov_trace_const_cmp8(uint64_t arg1, uint64_t arg2);
void __sanitizer_cov_trace_pc_indir(uintptr_t callee);

void __sanitizer_set_death_callback(void (*callback)()) { libfuzzer::PrintCrashingInput = callback; }

void __sanitizer_cov_trace_const_cmp8_with_pc(uintptr_t, uint64_t arg1, uint64_t arg2) {
  __sanitizer_cov_trace_const_cmp8(arg1, arg2);
}

void __sanitizer_cov_trace_pc_indir_with_pc(void *, uintptr_t callee) { __sanitizer_cov_trace_pc_indir(callee); }
}

namespace {
constexpr int RETURN_EXIT = -2;
std::jmp_buf stopped;
fuzzer::UserCallback target = nullptr;

int Forward(const uint8_t *data, size_t size) {
  int result = target(data, size);
  if (result == RETURN_EXIT) std::longjmp(stopped, 1);
  return result;
}
} // namespace

namespace fuzzer {
int PiwireFuzzerDriver(int *argc, char ***argv, UserCallback callback) {
  target = callback;
  if (setjmp(stopped) == 0) return FuzzerDriver(argc, argv, Forward);
  return 0;
}
} // namespace fuzzer
