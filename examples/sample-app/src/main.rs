use sample_app::*;

fn main() {
    let user = User { user_id: 7, display_name: "Ada".into(), email: None, session: 3 };
    let json = serde_json::to_string(&Event::Joined(user.clone())).unwrap();
    println!("{}", json);
    println!("{:?}", parse_event(&json).unwrap());
    println!("{:?}", parse_event(r#"{"type":"left","data":{"user_id":7}}"#).unwrap());
    println!("{}", parse_event("{").unwrap_err());
    println!("{}", find(&[user], 8).unwrap_err());
    println!("{} {:?}", User::describe(), User::FIELD_NAMES);
    println!("{:?} {} {}", LIST_USERS_ROUTE, list_users(), QUERY);
    println!("{} | max_users={} region={} | build {}", Welcome::greeting(), MAX_USERS, REGION, Build::label());
}
