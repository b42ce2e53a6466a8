#ifndef LINEAGE_CLMDB_SHIM_H
#define LINEAGE_CLMDB_SHIM_H
// The LMDB C API (Debian liblmdb-dev, pkg-config name "lmdb"), imported as the Swift module CLMDB.
// Only LogStore and the store benchmark import it; everything else goes through LogStore.
#include <lmdb.h>
#endif
