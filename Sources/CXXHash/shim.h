// xxHash (Debian's libxxhash-dev): XXH3 digests of the routing text's blocks, used by the Routing layer only.
#include <xxhash.h>

// The prefix index looks a few blocks ahead and asks for their cache lines early (Swift has no prefetch),
// so the misses of a 500-block walk overlap instead of queueing one after another.
static inline void sy_prefetch(const void *address) { __builtin_prefetch(address); }
