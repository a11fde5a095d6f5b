// A deliberately plain PDQ, used only as the in-run speed baseline for the
// optimized PdqHasher (src/hashing/pdq.h). It follows the loop structure and
// costs of the reference library: scalar float luma into a w*h buffer; two
// full Jarosz passes, each a box filter along every row and then along every
// column one column at a time (stride = image width, so power-of-two widths
// suffer cache-set conflicts as in the reference); decimation to 64x64; the
// quality score; a plain 16x64 DCT; a median threshold.
//
//   BaselinePdq baseline;
//   PdqHash h = baseline.Hash(view);  // Same bits as PdqHasher::Hash(view).
//
// The benchmark checks at setup that both give the same hash, so the speed
// ratio compares equal work. Not for production use.
//
// Thread safety: owns scratch buffers; not thread-safe.
#ifndef HASHMATCH_BENCH_PDQ_BASELINE_H_
#define HASHMATCH_BENCH_PDQ_BASELINE_H_

#include <vector>

#include "src/hashing/image_view.h"
#include "src/hashing/pdq.h"

namespace hashmatch {
namespace bench {

class BaselinePdq {
 public:
  BaselinePdq() = default;
  BaselinePdq(const BaselinePdq&) = delete;
  BaselinePdq& operator=(const BaselinePdq&) = delete;

  // REQUIRES: image.channels is 1 or 3.
  PdqHash Hash(const ImageView& image);

 private:
  std::vector<float> luma_;     // w*h; holds the filtered image at the end.
  std::vector<float> scratch_;  // w*h.
};

}  // namespace bench
}  // namespace hashmatch

#endif  // HASHMATCH_BENCH_PDQ_BASELINE_H_
