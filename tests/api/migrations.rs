use inspine::db::{self, Db};

use crate::helpers::TestApp;

/// Every migration applies, reverts and applies again, on whichever backend this run uses.
#[actix_web::test]
async fn migrations_apply_revert_and_reapply() {
    let app = TestApp::spawn().await;
    let url = app.database_url.clone();
    actix_web::web::block(move || {
        let db = Db::connect(&url).unwrap();
        let mut conn = db.get().unwrap();
        assert!(!db::has_pending_migrations(&mut conn).unwrap());
        let reverted = db::revert_all_migrations(&mut conn).unwrap();
        assert!(reverted >= 1);
        assert!(db::has_pending_migrations(&mut conn).unwrap());
        assert_eq!(db::run_migrations(&mut conn).unwrap(), reverted);
        assert!(!db::has_pending_migrations(&mut conn).unwrap());
    })
    .await
    .unwrap();
}
