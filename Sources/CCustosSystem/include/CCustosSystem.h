#ifndef CCUSTOS_SYSTEM_H
#define CCUSTOS_SYSTEM_H

#include <stddef.h>

/// Releases the allocator's free pages to the system (glibc's malloc_trim(0)); 1 if any were released.
/// Elsewhere a no-op answering 0.
int custos_release_free_memory(void);

/// Fixes glibc's mmap threshold at its initial 128 KiB, which also turns off its dynamic raising: every
/// large buffer is then mapped and unmapped on its own instead of being carved out of the arenas, where
/// large transient buffers between small long-lived ones fragment them. 1 on success; elsewhere 0.
int custos_fix_allocator_thresholds(void);

/// Caps glibc's malloc arenas at `count` (by default up to eight per core). Threads share them instead
/// of each new thread taking an arena of its own: Dispatch starts extra worker threads while others
/// block (Argon2id, fsync), and every arena they created kept its free fragments. 1 on success; elsewhere 0.
int custos_limit_allocator_arenas(int count);

/// The allocator's live bytes (in use, mapped buffers included) and the free bytes its arenas keep
/// (glibc's mallinfo2: it locks and walks every arena, so call it seconds apart). Elsewhere both 0.
void custos_allocator_statistics(size_t *live, size_t *free_in_arenas);

#endif
