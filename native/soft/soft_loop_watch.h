#pragma once

#include <node_api.h>

#include "soft_machine.h"

namespace soft {

// Starts watching the calling thread's event loop for `machine` -> id or -errno.
int loopWatchStart(napi_env env, Machine* machine);
// Stops and joins one watch (of `machine`, when given) -> 0 or -ESRCH.
int loopWatchStop(int id, Machine* machine);
// Stops every watch of `machine` (before it is destroyed).
void loopWatchStopAll(Machine* machine);

}  // namespace soft
