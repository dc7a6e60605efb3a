#ifndef CCUSTOS_ARGON2_SHIM_H
#define CCUSTOS_ARGON2_SHIM_H
#include <argon2.h>
#endif
