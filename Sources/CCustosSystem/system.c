#include "CCustosSystem.h"

// Any libc header defines __GLIBC__ when the C library is glibc.
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

int custos_release_free_memory(void) {
#if defined(__GLIBC__)
  return malloc_trim(0);
#else
  return 0;
#endif
}

int custos_fix_allocator_thresholds(void) {
#if defined(__GLIBC__)
  return mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#else
  return 0;
#endif
}

int custos_limit_allocator_arenas(int count) {
#if defined(__GLIBC__)
  return mallopt(M_ARENA_MAX, count);
#else
  return 0;
#endif
}

void custos_allocator_statistics(size_t *live, size_t *free_in_arenas) {
#if defined(__GLIBC__)
  struct mallinfo2 info = mallinfo2();
  *live = info.uordblks + info.hblkhd;
  *free_in_arenas = info.fordblks;
#else
  *live = 0;
  *free_in_arenas = 0;
#endif
}
