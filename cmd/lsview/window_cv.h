#ifndef LSVIEW_WINDOW_CV_H
#define LSVIEW_WINDOW_CV_H
#ifdef __cplusplus
extern "C" {
#endif
void lsview_named_window(const char *name);
#ifdef __cplusplus
}
#endif
#endif
