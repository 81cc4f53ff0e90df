/**
 * Pixel work shared by image loaders: RGBA → grayscale or RGB in [0, 1], bilinear resize.
 * Isomorphic (plain arrays); decoding is the loaders' business.
 */

/**
 * Converts an RGBA image (`width × height × 4` bytes) to `channels` (1: BT.601 luma, 3: RGB)
 * floats in [0, 1], transparent pixels as black (as the browser loader does), resized
 * bilinearly (pixel centres aligned, as `tf.image.resizeBilinear` with halfPixelCenters) to
 * `outWidth × outHeight`. Row-major, channels last.
 */
export function rgbaToFeatures(rgba: ArrayLike<number>, width: number, height: number, outWidth: number, outHeight: number, channels: 1 | 3): Float32Array {
  const plane = new Float32Array(width * height * channels);
  for (let i = 0, p = 0; i < width * height; i++, p += 4) {
    const a = rgba[p + 3] / 255;
    if (channels === 1) plane[i] = ((0.299 * rgba[p] + 0.587 * rgba[p + 1] + 0.114 * rgba[p + 2]) / 255) * a;
    else for (let c = 0; c < 3; c++) plane[i * 3 + c] = (rgba[p + c] / 255) * a;
  }
  if (width === outWidth && height === outHeight) return plane;
  const out = new Float32Array(outWidth * outHeight * channels);
  const sy = height / outHeight;
  const sx = width / outWidth;
  for (let oy = 0; oy < outHeight; oy++) {
    const fy = Math.min(Math.max((oy + 0.5) * sy - 0.5, 0), height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, height - 1);
    const wy = fy - y0;
    for (let ox = 0; ox < outWidth; ox++) {
      const fx = Math.min(Math.max((ox + 0.5) * sx - 0.5, 0), width - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, width - 1);
      const wx = fx - x0;
      for (let c = 0; c < channels; c++) {
        const at = (yy: number, xx: number) => plane[(yy * width + xx) * channels + c];
        const top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx;
        const bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx;
        out[(oy * outWidth + ox) * channels + c] = top * (1 - wy) + bottom * wy;
      }
    }
  }
  return out;
}
