#ifndef LSVIEW_WINDOW_CV_H
#define LSVIEW_WINDOW_CV_H
#ifdef __cplusplus
extern "C" {
#endif
void lsview_named_window(const char *name);
void lsview_window_size(const char *name, int *width, int *height);
#ifdef __cplusplus
}
#endif
#endif
