// The subcommands of the `hashmatch` CLI. Each takes the arguments after its
// name, writes results to `out` and diagnostics to `err`, and returns the
// process exit code:
//   kExitOk (0)     success; for compare: the hashes match.
//   kExitFailure(1) some file could not be hashed (the others were); for
//                   compare: the hashes do not match.
//   kExitUsage (2)  bad flags or arguments; usage is printed to `err`.
//
// Thread safety: each call is independent; `out` and `err` must not be used
// concurrently by the caller.
#ifndef HASHMATCH_TOOLS_COMMANDS_H_
#define HASHMATCH_TOOLS_COMMANDS_H_

#include <ostream>
#include <string>
#include <vector>

namespace hashmatch {
namespace cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

void PrintUsage(std::ostream& os);

int RunHash(const std::vector<std::string>& args, std::ostream& out,
            std::ostream& err);
int RunCompare(const std::vector<std::string>& args, std::ostream& out,
               std::ostream& err);
int RunPairs(const std::vector<std::string>& args, std::ostream& out,
             std::ostream& err);

}  // namespace cli
}  // namespace hashmatch

#endif  // HASHMATCH_TOOLS_COMMANDS_H_
