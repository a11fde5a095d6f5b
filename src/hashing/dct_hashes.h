// 64-bit perceptual hashes for the comparison lane and for accuracy studies:
// pHash (DCT) and dHash (gradient). Neither is exchanged between programmes
// the way PDQ is; they are ours to define, and defined here.
//
//   Hash64 p = PHash(image.view());
//   Hash64 d = DHash(image.view());
//
// pHash follows the structure of pHash.org's ph_dct_imagehash (Zauner 2010):
// a 32x32 luma image, its 2-D DCT-II, the 8x8 block of coefficients
// (1..8)x(1..8) (the DC row and column left out), and bit i (i = 8*row + col
// in that block, bit 0 the least significant) set where the coefficient is
// above the block's median (the mean of its 32nd and 33rd values). Two
// deliberate differences, so it is not bit-compatible with pHash.org: luma is
// PDQ's float BT.601 luma rather than CImg's integer Y, and the 32x32 image is
// an area average of the whole picture rather than pHash.org's 7x7 mean filter
// followed by nearest-neighbour sampling (less aliasing on large photos).
//
// dHash follows Krawetz's definition ("Kind of Like That", 2013): the luma
// image area-averaged to 9 columns x 8 rows; bit i (i = 8*row + col, bit 0
// least significant) set where pixel (row, col + 1) is brighter than pixel
// (row, col).
//
// Thread safety: pure functions.
#ifndef HASHMATCH_SRC_HASHING_DCT_HASHES_H_
#define HASHMATCH_SRC_HASHING_DCT_HASHES_H_

#include "src/hashing/bit_hash.h"
#include "src/hashing/image_view.h"

namespace hashmatch {

// REQUIRES: image has at least one pixel and 1 or 3 channels.
Hash64 PHash(const ImageView& image);
Hash64 DHash(const ImageView& image);

// Area-averages the luma of `image` into out_w x out_h floats (row-major):
// each output pixel is the mean of the input area it covers, with fractional
// weights at its edges. Exposed for tests.
void AreaResizeLuma(const ImageView& image, int out_w, int out_h, float* out);

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_HASHING_DCT_HASHES_H_
