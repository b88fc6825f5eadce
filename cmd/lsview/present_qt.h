//go:build linux && !noqt

#ifndef LSVIEW_PRESENT_QT_H
#define LSVIEW_PRESENT_QT_H
#ifdef __cplusplus
extern "C" {
#endif
int lsview_present(const char *name, unsigned char *bgra, int width, int height, int stride, int x, int y, int w, int h);
void lsview_present_detach(void);
#ifdef __cplusplus
}
#endif
#endif
