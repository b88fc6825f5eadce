//go:build linux && !noqt

#ifndef LSVIEW_WINKEYS_QT_H
#define LSVIEW_WINKEYS_QT_H
#ifdef __cplusplus
extern "C" {
#endif
// The named keys the filter reports; 0 means the event is text. Kept in
// step with editKey in winkeys.go.
enum {
    LSVIEW_KEY_TEXT = 0,
    LSVIEW_KEY_ENTER,
    LSVIEW_KEY_ESC,
    LSVIEW_KEY_BACKSPACE,
    LSVIEW_KEY_DELETE,
    LSVIEW_KEY_LEFT,
    LSVIEW_KEY_RIGHT,
    LSVIEW_KEY_HOME,
    LSVIEW_KEY_END,
    LSVIEW_KEY_UP,
    LSVIEW_KEY_DOWN,
    LSVIEW_KEY_PAGE_UP,
    LSVIEW_KEY_PAGE_DOWN,
    LSVIEW_KEY_F1,
    LSVIEW_KEY_F11,
    LSVIEW_KEY_QUIT,
    LSVIEW_KEY_WHEEL_UP,
    LSVIEW_KEY_WHEEL_DOWN,
    LSVIEW_KEY_F2,
    LSVIEW_KEY_F3,
    LSVIEW_KEY_SHIFT_LEFT,
    LSVIEW_KEY_SHIFT_RIGHT,
    LSVIEW_KEY_F4
};
int lsview_keys_install(void);
const char *lsview_keys_next(int *key, int *len);
void lsview_wait(int ms);
void lsview_wake(void);
#ifdef __cplusplus
}
#endif
#endif
