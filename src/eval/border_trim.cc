#include "src/eval/border_trim.h"

#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace hashmatch {
namespace eval {
namespace {

// Whether row i of `luma` (transposed for columns) is flat; `lap` is the
// Laplacian of `luma`.
bool IsFlat(const cv::Mat& luma, const cv::Mat& lap, int i,
            const TrimOptions& options) {
  const float* row = luma.ptr<float>(i);
  const float* l = lap.ptr<float>(i);
  const int n = luma.cols;
  double sum = 0, sum2 = 0, detail = 0;
  for (int x = 0; x < n; ++x) {
    sum += row[x];
    sum2 += row[x] * row[x];
    detail += std::fabs(l[x]);
  }
  const double mean = sum / n;
  const double var = std::max(0.0, sum2 / n - mean * mean);
  if (std::sqrt(var) < options.max_flat_stddev) return true;
  return detail / n < options.max_flat_detail;
}

// Number of flat lines from the start (forward) or the end of `luma`'s rows.
int FlatLines(const cv::Mat& luma, const cv::Mat& lap, bool from_start,
              const TrimOptions& options) {
  const int n = luma.rows;
  const int limit = static_cast<int>(n * options.max_trim_fraction);
  int count = 0;
  while (count < limit) {
    const int i = from_start ? count : n - 1 - count;
    if (!IsFlat(luma, lap, i, options)) break;
    ++count;
  }
  return count;
}

}  // namespace

cv::Rect FindContentRect(const cv::Mat& pixels, const TrimOptions& options) {
  const cv::Rect whole(0, 0, pixels.cols, pixels.rows);
  if (pixels.empty()) return whole;
  cv::Mat gray;
  if (pixels.channels() == 3) {
    cv::cvtColor(pixels, gray, cv::COLOR_BGR2GRAY);
  } else {
    gray = pixels;
  }
  const int longer = std::max(pixels.cols, pixels.rows);
  const double s = longer > options.analysis_side
                       ? static_cast<double>(options.analysis_side) / longer
                       : 1.0;
  cv::Mat gray_f, luma;
  gray.convertTo(gray_f, CV_32F);
  const cv::Size size(
      std::max(1, static_cast<int>(std::lround(gray.cols * s))),
      std::max(1, static_cast<int>(std::lround(gray.rows * s))));
  cv::resize(gray_f, luma, size, 0, 0, cv::INTER_AREA);
  cv::Mat lap;
  cv::Laplacian(luma, lap, CV_32F, 1, 1.0, 0.0, cv::BORDER_REPLICATE);
  const cv::Mat luma_t = luma.t(), lap_t = lap.t();
  const int top = FlatLines(luma, lap, true, options);
  const int bottom = FlatLines(luma, lap, false, options);
  const int left = FlatLines(luma_t, lap_t, true, options);
  const int right = FlatLines(luma_t, lap_t, false, options);
  if (top + bottom + left + right == 0) return whole;
  const double fx = static_cast<double>(pixels.cols) / luma.cols;
  const double fy = static_cast<double>(pixels.rows) / luma.rows;
  const int x0 = static_cast<int>(std::ceil(left * fx));
  const int x1 = static_cast<int>(std::floor((luma.cols - right) * fx));
  const int y0 = static_cast<int>(std::ceil(top * fy));
  const int y1 = static_cast<int>(std::floor((luma.rows - bottom) * fy));
  if (x1 - x0 < 8 || y1 - y0 < 8) return whole;
  return cv::Rect(x0, y0, x1 - x0, y1 - y0) & whole;
}

}  // namespace eval
}  // namespace hashmatch
