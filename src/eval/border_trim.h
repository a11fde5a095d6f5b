// Border trimming before hashing (issue 7 item 7, an experiment of the
// accuracy evaluation): removes uniform or blurred margins that an uploader
// or an app added around a photo, so the hash sees the photo again.
//
//   cv::Rect keep = FindContentRect(pixels, {});
//   PdqHash h = hasher.Hash(ViewOfMat(pixels(keep)));
//
// Method: the luma is area-resized so its longer side is at most
// options.analysis_side. A row is "flat" when the mean absolute difference
// between horizontally adjacent pixels plus the mean absolute difference to
// the next row inward is below options.max_flat_detail (grey levels), or when
// its standard deviation is below options.max_flat_stddev. Rows are dropped
// from the top while flat, at most options.max_trim_fraction of the height;
// likewise the bottom, and columns from the left and right. The rectangle is
// mapped back to the input's coordinates.
//
// Thread safety: pure function.
#ifndef HASHMATCH_SRC_EVAL_BORDER_TRIM_H_
#define HASHMATCH_SRC_EVAL_BORDER_TRIM_H_

#include <opencv2/core/mat.hpp>

namespace hashmatch {
namespace eval {

struct TrimOptions {
  // Longer side of the analysed copy. Default 256.
  int analysis_side = 256;
  // Default 1.0 grey level.
  double max_flat_detail = 1.0;
  // Default 2.0 grey levels.
  double max_flat_stddev = 2.0;
  // At most this fraction of the height (width) is trimmed from each of the
  // top and bottom (left and right). Default 0.25.
  double max_trim_fraction = 0.25;
};

// The part of `pixels` (CV_8UC1 or CV_8UC3, non-empty) to keep; the whole
// image when no border is found.
cv::Rect FindContentRect(const cv::Mat& pixels, const TrimOptions& options);

}  // namespace eval
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_EVAL_BORDER_TRIM_H_
