// The exec benchmark's payload: a static binary that exits at once.
int main() { return 0; }
