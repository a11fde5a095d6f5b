// A non-owning view of 8-bit decoded pixels, the input of every hasher.
//
//   ImageView view = decoded.view();
//   ASSIGN_OR_RETURN(PdqHash h, hasher.Hash(view));
//
// Three-channel pixels are in B, G, R order (as OpenCV decodes them); a
// one-channel image is luma (grayscale) and is used as is.
#ifndef HASHMATCH_SRC_HASHING_IMAGE_VIEW_H_
#define HASHMATCH_SRC_HASHING_IMAGE_VIEW_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hashmatch {

struct ImageView {
  const uint8_t* data = nullptr;  // Not owned; must outlive the view.
  int width = 0;
  int height = 0;
  int channels = 0;       // 1 (gray) or 3 (BGR).
  size_t row_stride = 0;  // Bytes from one row to the next.

  const uint8_t* row(int y) const { return data + row_stride * y; }
};

// Writes width*height floats, row-major: gray values as is, or
// 0.299 R + 0.587 G + 0.114 B evaluated in float in that order, exactly as
// the PDQ reference does. REQUIRES: channels is 1 or 3.
void ComputeLuma(const ImageView& image, float* out);

// Nearest-neighbour resize of `image` to `width` x `height` ignoring aspect:
// output (x, y) takes input (floor(x * W / width), floor(y * H / height))
// computed in double, as the PDQ reference tool samples. `storage` receives
// the pixels; the returned view points into it.
ImageView ResizeNearest(const ImageView& image, int width, int height,
                        std::vector<uint8_t>* storage);

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_HASHING_IMAGE_VIEW_H_
