/* Internal to resp/: the hash index over resp_commands that
 * resp/gen_commands.py emits into resp/commands.c for resp_command_lookup.
 * Open addressing with linear probing on FNV-1a (32-bit) of the lower-case
 * name; slots hold index + 1 into resp_commands, 0 when empty. The
 * generator and resp_command_hash_name must agree on the hash. */
#ifndef FERRY_RESP_COMMAND_TABLE_H
#define FERRY_RESP_COMMAND_TABLE_H

#include <stdint.h>

#define RESP_COMMAND_HASH_SIZE 1024 /* a power of two, >= 4x the commands */

extern const uint16_t resp_command_hash[RESP_COMMAND_HASH_SIZE];

#endif
