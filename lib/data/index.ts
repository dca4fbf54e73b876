export type { Dataset } from './dataset';
export { checkFinite, subset, trainTestSplit } from './dataset';
export type { IdxArray, IdxSplit } from './idx';
export { gunzipFile, isGzip, loadIdxDataset, parseIdx, readIdxFile } from './idx';
export { DIGITS_PATH, DIGITS_ROWS, loadDigits } from './digits';
export { waves, movingSquares, WAVE_CLASSES, DIRECTIONS } from './synthetic';
