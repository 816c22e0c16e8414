// xxHash (Debian's libxxhash-dev): XXH3 digests of the routing text's blocks, used by the Routing layer only.
#include <xxhash.h>
