// Internal: work handed to a thread beside the caller. RunBeside(f) is a future of f(), run on a
// thread of its own; when the system can make no more threads (std::system_error, resource
// exhaustion), f runs instead on the thread that first waits for the future. Whatever hands work
// to a thread this way must be correct either way (it waits for the future before it needs the
// work done, and never waits on the work's progress otherwise): a machine out of threads makes
// it slower, never wrong, and no exception leaves the library for it.
#ifndef RECONCILE_LIB_CORE_RUN_BESIDE_H_
#define RECONCILE_LIB_CORE_RUN_BESIDE_H_

#include <future>
#include <system_error>
#include <type_traits>
#include <utility>

namespace reconcile::internal {

template <typename F>
std::future<std::invoke_result_t<std::decay_t<F>>> RunBeside(F&& f) {
  try {
    // `f` is copied into the thread's state, so it is still whole for the fallback below.
    return std::async(std::launch::async, static_cast<const std::decay_t<F>&>(f));
  } catch (const std::system_error&) {
    return std::async(std::launch::deferred, std::forward<F>(f));
  }
}

}  // namespace reconcile::internal

#endif  // RECONCILE_LIB_CORE_RUN_BESIDE_H_
