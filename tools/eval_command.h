// The `hashmatch eval` subcommands: the auditors' accuracy evaluation over a
// corpus of benign photos (src/eval/evaluation.h; docs/accuracy.md) and the
// performance report over the benchmarks of bench/ (src/perf/perf_runner.h;
// docs/performance.md).
//
//   hashmatch eval accuracy --corpus DIR|RCC[,...] --write_manifest FILE
//   hashmatch eval accuracy (--corpus DIR|RCC[,...] | --manifest FILE)
//       --out DIR [--hashers LIST] [--transforms LIST] [--limit N]
//       [--threads N] [--max_side N] [--seed N] [--target_precision P]
//   hashmatch eval perf [--quick | --update_docs [--out FILE]] [--json FILE]
//       [sizes...]
//
// `eval accuracy` captures stderr while it runs (src/common/stderr_capture.h):
// image library messages are counted and summarised once at the end, other
// lines pass through unchanged. `eval perf` prints its report and writes its
// JSON; only --update_docs (refused with --quick) rewrites the block of
// docs/performance.md.
//
// Exit codes as in commands.h: 0 done, 1 the corpus could not be read (a
// missing directory or file names its Debian package; an MD5 mismatch with
// the manifest names the file and both digests), a benchmark program is
// missing or failed (perf), or the report could not be written, 2 usage.
//
// Thread safety: as commands.h.
#ifndef HASHMATCH_TOOLS_EVAL_COMMAND_H_
#define HASHMATCH_TOOLS_EVAL_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace hashmatch {
namespace cli {

// `args` are the arguments after `eval`.
int RunEval(const std::vector<std::string>& args, std::ostream& out,
            std::ostream& err);

}  // namespace cli
}  // namespace hashmatch

#endif  // HASHMATCH_TOOLS_EVAL_COMMAND_H_
